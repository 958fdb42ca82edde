"""End-to-end tests: the real bot process against tests.fake_bot_api.FakeBotAPI."""
