"""Subscribers and the dispatch job: approved slot messages fanned out to every subscriber,
once, at their own local delivery time, through SMS, email, webhook or a file outbox.

Exactly once rests on a transactional outbox: every delivery is a row keyed by
(run, window, subscriber, channel), written before anything is sent, claimed before sending and
marked after; a crash between the two is resolved by asking the channel what it already sent.
"""
