"""Handlers by role: each module has one router, from `get_router(settings)`.

A handler reads the update, calls one use case (crm/usecases) and tells its notices
(bot/notices.py). The routers' order is kept in bot/app.py `build_dispatcher`.
"""
