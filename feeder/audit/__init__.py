"""Auditing a window of the feed against the API (``feeder verify``).

The rule: the audit claims only what a poller can know. The API shows each session's *latest*
state, never its history, so for every session whose latest ``updatedAt`` lies in the window the
facts are the ones a first sight of that latest state would publish with the window's start as
the feed start (:func:`feeder.core.diff.apply_version` of a session never seen):

- ``session.created``, ``session.entered``, ``session.exited``, ``session.code_scanned``: the
  session's ``createdAt`` and its *latest* entered, exited and scanned moments, when at or after
  the window's start; an event of that type with exactly that time must exist. Earlier entries
  cannot be checked (the API no longer shows them); an event claiming a moment newer than the
  API's is wrong.
- ``session.suspected_fraud_changed`` and ``session.status_changed``: the session's current flag
  and status. The last event of that type for the session (in topic order) must carry the
  current value; a flag that is ``true`` must have an event; a status other than ``active`` must
  have one if the session was created in the window. A last event with another value is wrong.
  Flips the API no longer shows (set and cleared between two looks) are not claimed.

Events older than the window's start are counted and left unchecked, except the last fraud or
status event of a session, which stands for its current value whenever it was published.
"""
