"""Plumbing every Aisle app may use: version store, device helpers, command base, job status,
task sending, admin helpers and input checks. Imports no app; ``versions`` and ``devices``
import no Django either (the GPU machine runs them without it)."""
