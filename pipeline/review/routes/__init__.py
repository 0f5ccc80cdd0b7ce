"""One router per area of the sheet: sign-in, runs, slots, the detail page, export and
import, and the provider hooks (Twilio inbound and status, email unsubscribe)."""
