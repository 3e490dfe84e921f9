from django.apps import AppConfig
from django.core.signals import setting_changed


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM"

    def ready(self) -> None:
        from llm import conf

        # Tests override settings; the cached view of them must follow.
        setting_changed.connect(lambda **_: conf.get_settings.cache_clear(), weak=False)
