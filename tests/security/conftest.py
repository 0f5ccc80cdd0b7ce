"""The dispatch stand-ins (real SMTP server, local Twilio, webhook receiver) for these tests."""

from tests.pipeline.conftest import (  # noqa: F401 -- fixtures
    dispatch_settings,
    fake_twilio,
    make_smtp_server,
    smtp_server,
    webhook_server,
)
