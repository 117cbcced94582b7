from django.urls import path

from chatrk.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.verify_view, name="verify"),
    path("login/enrol/", views.enrol_view, name="enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.security_view, name="security"),
    path("account/reauth/", views.reauth_view, name="reauth"),
    path("account/password/", views.password_view, name="password"),
    path("account/email/", views.email_view, name="email"),
    path("account/two-factor/", views.enrol_view, name="reenrol"),
    path("account/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("account/sessions/<str:session_id>/revoke/", views.revoke_session_view, name="revoke_session"),
    path("account/sessions/revoke-others/", views.revoke_other_sessions_view, name="revoke_other_sessions"),
    path("setup/", views.setup_view, name="setup"),
    path("setup/<str:secret>", views.stash_secret(views.SETUP_SECRET, "/setup/"), name="setup_link"),
    path("reset/", views.password_reset_view, name="password_reset"),
    path("reset/<str:secret>", views.stash_secret(views.RESET_SECRET, "/reset/"), name="password_reset_link"),
    path("invite/", views.invitation_view, name="invitation"),
    path("invite/<str:secret>", views.stash_secret(views.INVITE_SECRET, "/invite/"), name="invitation_link"),
]
