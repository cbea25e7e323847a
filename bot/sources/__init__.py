"""Where delivery evidence comes from: the store, and the ESPs' payloads and APIs."""
