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
    """The file is not a bounce email we will read; the message says why, for the user."""


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
        raise FileRefused(
            f"Slack would not show me the file ({exc.response.get('error')})."
        ) from None
    file = info.get("file") or {}
    size = int(file.get("size") or 0)
    if size > MAX_EML_BYTES:
        raise FileRefused(
            f"The file is {size // 1024} KiB; "
            f"I read bounce emails up to {MAX_EML_BYTES // 1024} KiB."
        )
    if not is_eml(file) and file.get("mimetype") not in _EML_TYPES:
        raise FileRefused("That does not look like an email file (.eml).")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    allowed = _FILE_HOSTS | {urlsplit(api_url).hostname or ""}
    if urlsplit(url).scheme not in ("https", "http") or urlsplit(url).hostname not in allowed:
        raise FileRefused("The file is not on Slack's file host.")
    chunks: list[bytes] = []
    received = 0
    async with (
        httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status_code != 200:
            raise FileRefused(f"Downloading the file failed (HTTP {response.status_code}).")
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > MAX_EML_BYTES:
                raise FileRefused(f"The file is larger than {MAX_EML_BYTES // 1024} KiB.")
            chunks.append(chunk)
    return b"".join(chunks)
