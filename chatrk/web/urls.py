from django.urls import URLPattern, URLResolver, include, path

from chatrk.web import (
    composer_views,
    contact_views,
    inbox_views,
    policy_views,
    template_pages,
    views,
    work_views,
)

app_name = "web"

workspace_patterns: list[URLPattern | URLResolver] = [
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/live/", inbox_views.inbox_live, name="inbox_live"),
    path("inbox/c/<int:conversation_id>/", inbox_views.conversation, name="conversation"),
    path("inbox/c/<int:conversation_id>/live/", inbox_views.conversation_live, name="conversation_live"),
    path("inbox/c/<int:conversation_id>/messages/<int:message_id>/retry/", inbox_views.retry, name="retry"),
    path("media/<int:media_id>/", inbox_views.media, name="media"),
    path("live/", views.live, name="live"),
    path("channels/", views.channels, name="channels"),
    path("channels/connect/", views.connect_channel, name="connect_channel"),
    path("channels/<int:channel_id>/health/", views.check_channel_health, name="check_channel_health"),
    path("channels/<int:channel_id>/token/", views.replace_channel_token, name="replace_channel_token"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.invite, name="invite"),
    path("members/<int:member_id>/role/", views.change_role, name="change_role"),
    path("members/<int:member_id>/remove/", views.remove_member, name="remove_member"),
    path(
        "members/<int:member_id>/sessions/revoke/",
        views.revoke_member_sessions,
        name="revoke_member_sessions",
    ),
    path("members/<int:member_id>/password-reset/", views.password_reset_link, name="password_reset_link"),
    path("invitations/<int:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/create/", views.create_token, name="create_token"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("policy/review/", policy_views.review_queue, name="policy_review_queue"),
    path("policy/review/<int:review_id>/", policy_views.review_detail, name="policy_review_detail"),
    path("policy/review/<int:review_id>/release/", policy_views.review_release, name="policy_review_release"),
    path("policy/review/<int:review_id>/reject/", policy_views.review_reject, name="policy_review_reject"),
    path("policy/settings/", policy_views.policy_settings, name="policy_settings"),
    path("", include(composer_views.urlpatterns)),
    path("", include(work_views.urlpatterns)),
    path("", include(contact_views.urlpatterns)),
]

urlpatterns = [
    path("w/<slug:ws>/", include(workspace_patterns)),
    path("w/<slug:ws>/templates/", include(template_pages.urlpatterns)),
]
