"""Use cases: what the desk does when someone acts, between the bot and the CRM services.

Each module is one use case: a plain async function taking the CRM services it needs and
typed inputs (crm.dto), returning the notices of what happened (crm.usecases.notices). They
flush but never commit (the caller owns the unit of work) and never import aiogram: the bot
decides who reads each notice and in which language.
"""
