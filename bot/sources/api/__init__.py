"""ESP lookup APIs (httpx): recent events for a recipient, suppression status, reactivation.

Every client implements `ESPClient` (base.py) and shares `ApiHttp` (http.py) for timeouts,
retries that honour Retry-After and each provider's rate limits, and answers.py for reading
what comes back (lists, events through the webhook normalizer, reactivation outcomes).
"""
