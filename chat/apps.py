from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat import openapi  # noqa: F401 - registers the security schemes of chat's authentication classes
        from chat.admin_actions import SESSION_ADMIN_ACTIONS
        from customers.services import register_session_admin_actions

        register_session_admin_actions(SESSION_ADMIN_ACTIONS)
