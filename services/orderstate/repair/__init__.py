"""Repairs after a policy change or a fix: ``orderstate redrive`` (rejected and expired parked
events appended to the inbound topics again) and ``orderstate policy check`` (what a proposed
policy file would decide differently). docs/redrive.md explains both."""
