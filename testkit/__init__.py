"""Fakes and loopback servers shared by the test suite (tests/) and the benchmarks (bench/).

Tests and benchmarks both run whymail against real sockets: a fake Slack Web API, the demo's
DNS server slowed down or on a thread of its own, ASGI apps on a free port. Those helpers live
here, in one place, so the benchmarks need not import the test suite and the product package
(bot/) carries nothing only they use.

Not shipped: pyproject's ``[tool.setuptools.packages.find] include = ["bot*"]`` leaves this
package out of the wheel and sdist. It is importable from the repository root (pytest's
``pythonpath = ["."]``; the bench scripts put the root on ``sys.path``) and imports ``bot``,
never ``tests``.
"""
