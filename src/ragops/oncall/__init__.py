"""On-call: severity policy, rotations with overrides, schedules, checks, calendar export."""
