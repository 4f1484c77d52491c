"""The one page of the Plugin API: a plugin file behind a signed, expiring link (`storage.files.getUrl`)."""

from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from runtime.plugin_api.storage import file_from_token


@require_GET
def plugin_file(request, token: str):
    row = file_from_token(token)
    if row is None:
        raise Http404("This link is invalid or has expired.")
    response = FileResponse(row.file.open("rb"), as_attachment=True, filename=row.name)
    # Served as a download whatever its type: a plugin's file must never run as a page of this site.
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
