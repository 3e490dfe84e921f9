import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

# After Django is set up: the limit is a setting, and the 413 problem comes from chat's registry.
from config.body_limit import BodyLimitMiddleware  # noqa: E402

# Bodies over the limit are refused before Django reads them (see config/body_limit.py).
application = BodyLimitMiddleware(django_application, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
