"""Alerts: whymail speaking first. When a stored event turns a dispatch's diagnosis into a
verdict someone asked to hear about, the diagnosis is posted once to the channels that asked.

Chat-neutral: which verdicts alert where (`policy`), when a burst becomes a digest (`burst`),
and the queue that diagnoses, claims and hands alerts to a `Poster` (`alerter`). The chat side
(bot/slack/alerts.py) only renders and posts.
"""

from bot.alerts.alerter import Alert, Alerter, AlerterStats, Poster, Subject
from bot.alerts.burst import Burst
from bot.alerts.policy import DEFAULT_VERDICTS, AlertPolicy, Target
from bot.alerts.threads import AlertThreads

__all__ = [
    "DEFAULT_VERDICTS",
    "Alert",
    "AlertPolicy",
    "AlertThreads",
    "Alerter",
    "AlerterStats",
    "Burst",
    "Poster",
    "Subject",
    "Target",
]
