"""What the Stasis (ari_app) and dialplan (agi_scripts) call paths share.

Neither path imports the other; both import this: the recording state of a
segment, the rules for agent actions, audio post-processing and the hand-off
of finished segments to storage.
"""
