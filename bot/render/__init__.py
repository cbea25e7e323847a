"""Renderers turn a Diagnosis into what a person or a program reads (Slack lives in bot/slack)."""
