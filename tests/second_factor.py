"""Staff and their second factor in tests: a TOTP device, the code its app would show, a session verified as
the admin's login leaves it, and the admin login's two steps (it is a wizard: its fields are named by step)."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

ADMIN_LOGIN = "/admin/login/"
STEP = "staff_login_view-current_step"  # the wizard's management form


def device_for(user) -> TOTPDevice:
    """The authenticator app `user` set up (a confirmed TOTP device, as the set-up page makes it)."""
    return TOTPDevice.objects.create(user=user, name="default", confirmed=True)


def code_of(device: TOTPDevice) -> str:
    """The code the device's app shows now, as typed (leading zeros kept)."""
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return f"{token:0{device.digits}d}"


def log_in_verified(client, user) -> TOTPDevice:
    """Log `user` in as the admin's login does after a right code: django_otp.login() keeps the id of the
    device that verified the session in it."""
    device = device_for(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def password_step(username: str, password: str, next_url: str = "/admin/") -> dict:
    return {STEP: "auth", "auth-username": username, "auth-password": password, "next": next_url}


def code_step(code: str, next_url: str = "/admin/") -> dict:
    return {STEP: "token", "token-otp_token": code, "next": next_url}
