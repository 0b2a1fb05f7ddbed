"""callrec's FastAGI path: recording for calls routed by plain dialplan (Dial, Queue).

The dialplan calls the FastAGI server when the agent answers; the server asks
the same policy as the Stasis path, sets the decision onto the agent's channel
and starts MixMonitor. AMI carries what no AGI session is there for (the
console's actions, pause, transfers, hangups). Finished files go to the same
storage hand-off as the Stasis path. See docs/DIALPLAN.md.
"""
