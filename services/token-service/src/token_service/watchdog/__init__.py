"""The dispatch watchdog: no caller is left alone in a room while retries can help.

LiveKit dispatches the receptionist once, when the caller's room starts, and never retries
a refused dispatch. LiveKit's webhooks tell us about every room (`webhook.py`); the one
leader among the token service's replicas (`store.LeaderLock`) checks each room with
ListParticipants and dispatches again with backoff until the retry window ends
(`runner.py`), telling the caller through the room's metadata that the lines are busy.
"""
