"""The API's request body parser."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, except that a body nested deeper than Python's recursion limit is a ParseError (400).

    `json` raises RecursionError for such a body (e.g. 10,000 nested lists) and DRF catches only ValueError, so the
    client would get a 500 for its own malformed input.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
