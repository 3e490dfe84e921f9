"""`GET /api/schema/`: the OpenAPI schema, generated once per process and then served from memory.

The schema is derived from the code and the settings alone: it is public (drf-spectacular's SERVE_PUBLIC) and the
same for every caller, and the API has one version and one language. Generating it walks every view and serializer
(tens of milliseconds of CPU), which anyone could otherwise make a worker spend on every request. So the first
request of a process generates it, and every later one is answered with that schema; a new deploy starts new
processes, hence a new schema. The `version` and `lang` query parameters are not honoured (each value would be a
schema to generate and keep). A changed setting (tests) forgets it.
"""

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

_schema: dict | None = None
_lock = threading.Lock()


class CachedSchemaView(SpectacularAPIView):
    def _get_schema_response(self, request: Request) -> Response:
        global _schema
        with _lock:
            if _schema is None:
                generator = self.generator_class(
                    urlconf=self.urlconf, api_version=self.api_version, patterns=self.patterns
                )
                _schema = generator.get_schema(request=request, public=self.serve_public)
        filename = self._get_filename(request, self.api_version)
        return Response(data=_schema, headers={"Content-Disposition": f'inline; filename="{filename}"'})


@receiver(setting_changed)
def _forget_schema(**kwargs: object) -> None:
    global _schema
    _schema = None
