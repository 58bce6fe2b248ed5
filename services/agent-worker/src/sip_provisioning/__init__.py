"""`agent-worker-sip sync`: the clinics' phone numbers provisioned in LiveKit SIP, as code."""
