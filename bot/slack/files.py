"""Fetch a bounce email (.eml) someone shared with the bot, within strict bounds.

The file's URL comes from Slack's `files.info`, never from the message, and is only fetched from
Slack's own file host or the configured API host (tests, proxies): the bot token goes nowhere
else. Size is checked before and during the download.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

MAX_EML_BYTES = 512 * 1024
_FILE_HOSTS = frozenset({"files.slack.com"})
_EML_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})


class FileRefused(Exception):
    """The file is not a bounce email we will read; `key` (a ui.yml word) and its `values`
    say why, in the user's language."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


def is_eml(file: dict[str, Any]) -> bool:
    name = str(file.get("name") or "").lower()
    return (
        name.endswith(".eml")
        or file.get("mimetype") == "message/rfc822"
        or file.get("filetype") == "email"
    )


async def download_eml(client: AsyncWebClient, file_id: str, *, token: str, api_url: str) -> bytes:
    try:
        info = await client.files_info(file=file_id)
    except SlackApiError as exc:
        raise FileRefused("file_unseen", error=exc.response.get("error")) from None
    file = info.get("file") or {}
    size = int(file.get("size") or 0)
    if size > MAX_EML_BYTES:
        raise FileRefused("file_too_big", size=size // 1024, limit=MAX_EML_BYTES // 1024)
    if not is_eml(file) and file.get("mimetype") not in _EML_TYPES:
        raise FileRefused("file_not_eml")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    allowed = _FILE_HOSTS | {urlsplit(api_url).hostname or ""}
    if urlsplit(url).scheme not in ("https", "http") or urlsplit(url).hostname not in allowed:
        raise FileRefused("file_wrong_host")
    chunks: list[bytes] = []
    received = 0
    async with (
        httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status_code != 200:
            raise FileRefused("file_download_failed", status=response.status_code)
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > MAX_EML_BYTES:
                raise FileRefused(
                    "file_too_big", size=received // 1024, limit=MAX_EML_BYTES // 1024
                )
            chunks.append(chunk)
    return b"".join(chunks)
