from django.urls import path

from chatrk.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.verify_view, name="verify"),
    path("login/verify/passkey/", views.passkey_sign_in_options_view, name="passkey_sign_in_options"),
    path("login/enrol/", views.enrol_view, name="enrol"),
    path("login/enrol/passkey/", views.passkey_enrol_view, name="passkey_enrol"),
    path("login/enrol/passkey/options/", views.passkey_enrol_options_view, name="passkey_enrol_options"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.security_view, name="security"),
    path("account/reauth/", views.reauth_view, name="reauth"),
    path("account/reauth/passkey/", views.reauth_passkey_options_view, name="reauth_passkey_options"),
    path("account/password/", views.password_view, name="password"),
    path("account/email/", views.email_view, name="email"),
    path("account/two-factor/", views.enrol_view, name="reenrol"),
    path("account/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("account/passkeys/add/", views.passkey_add_view, name="passkey_add"),
    path("account/passkeys/options/", views.passkey_register_options_view, name="passkey_register_options"),
    path("account/passkeys/<int:passkey_id>/remove/", views.passkey_remove_view, name="passkey_remove"),
    path("account/sessions/<str:session_id>/revoke/", views.revoke_session_view, name="revoke_session"),
    path("account/sessions/revoke-others/", views.revoke_other_sessions_view, name="revoke_other_sessions"),
    path("setup/", views.setup_view, name="setup"),
    path("setup/<str:secret>", views.stash_secret(views.SETUP_SECRET, "/setup/"), name="setup_link"),
    path("reset/", views.password_reset_view, name="password_reset"),
    path("reset/<str:secret>", views.stash_secret(views.RESET_SECRET, "/reset/"), name="password_reset_link"),
    path("invite/", views.invitation_view, name="invitation"),
    path("invite/<str:secret>", views.stash_secret(views.INVITE_SECRET, "/invite/"), name="invitation_link"),
]
