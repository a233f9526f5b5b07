FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files into the image (var/static, served by WhiteNoise with hashed, compressed names). collectstatic
# reads the settings, which require the secrets: throwaway ones, allowed only with debug on (with debug off the
# app refuses them: they are written here).
RUN DJANGO_DEBUG=1 DJANGO_SECRET_KEY=build ENCRYPTION_SALT=build XERO_CLIENT_ID=build XERO_CLIENT_SECRET=build \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "arena_xero.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
