"""The where-clause language on its own (no server)."""
from decimal import Decimal

import pytest

from xero_sandbox.where import WhereError, compile_where

RECORD = {
    "Name": "Acme Ltd", "Status": "ACTIVE", "Total": Decimal("115.00"), "IsCustomer": True,
    "Contact": {"ContactID": "5A1C8E4E-2B7F-4D3A-9E6C-0F1A2B3C4D5E"}, "Date": "/Date(1714521600000+0000)/",
}


@pytest.mark.parametrize("clause, expected", [
    ('Status=="ACTIVE"', True),
    ('status=="ACTIVE"', False),
    ('Status=="active"', True),
    ('Status!="ACTIVE"', False),
    ('Contact.ContactID==Guid("5a1c8e4e-2b7f-4d3a-9e6c-0f1a2b3c4d5e")', True),
    ('Total==115', True),
    ('Total>=115.01', False),
    ('Total<200 AND Status=="ACTIVE"', True),
    ('Total>200 || Name.Contains("acme")', True),
    ('Name.StartsWith("Ac") && Name.EndsWith("ltd")', True),
    ('Name.ToLower()=="acme ltd"', True),
    ('IsCustomer==true', True),
    ('NOT (Status=="ACTIVE")', False),
    ('Date==DateTime(2024,05,01)', True),
    ('Date>DateTime(2024,05,01)', False),
    ('Missing==null', True),
    ('Name=="Say \\"hi\\""', False),
])
def test_where_clauses(clause, expected):
    assert compile_where(clause)(RECORD) is expected


@pytest.mark.parametrize("clause", [
    'Status = "ACTIVE"', 'Status=="ACTIVE" AND', '(Status=="ACTIVE"', 'Name.Matches("x")', 'Status', "Total>>1",
])
def test_unparseable_where_clauses_are_errors(clause):
    with pytest.raises(WhereError):
        compile_where(clause)
