"""The Slack adapter: the only package that imports slack_bolt and slack_sdk.

It translates Slack's requests into calls of the Slack-free core (`bot.diagnose`) and the core's
answers into Block Kit. Importing this package imports nothing from Slack; `bot.slack.app` does.
"""
