"""Forms: they parse and explain; the actions decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.text import slugify

from chatrk.accounts.passkeys import MAX_RESPONSE_CHARS
from chatrk.accounts.scopes import Scope
from chatrk.core.models import Workspace
from chatrk.core.roles import Role

_PASSWORD = {"autocomplete": "current-password"}
_NEW_PASSWORD = {"autocomplete": "new-password", "minlength": "12"}
_CODE = {"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}


def password_field(label: str, attrs: dict[str, Any]) -> forms.CharField:
    # strip=False: a password is checked exactly as typed (ASVS V6.2.8).
    return forms.CharField(
        label=label,
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH * 4,
        widget=forms.PasswordInput(attrs=attrs),
    )


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = password_field("Password", _PASSWORD)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=40,
        widget=forms.TextInput(attrs=_CODE),
    )


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="6-digit code shown by the app", max_length=12, widget=forms.TextInput(attrs=_CODE)
    )


class NewAccountForm(forms.Form):
    name = forms.CharField(
        label="Your name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password = password_field("Choose a password", _NEW_PASSWORD)


class SetupForm(NewAccountForm):
    workspace_name = forms.CharField(label="Business or workspace name", max_length=120)
    email = forms.EmailField(
        label="Your e-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    field_order = ["workspace_name", "name", "email", "password"]

    def clean_workspace_name(self) -> str:
        name: str = self.cleaned_data["workspace_name"].strip()
        if not slugify(name):
            raise forms.ValidationError("Use at least one letter or digit.")
        return name

    def slug(self) -> str:
        base = slugify(self.cleaned_data["workspace_name"])[:50] or "workspace"
        slug, n = base, 1
        while Workspace.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        return slug


class ReauthForm(forms.Form):
    password = password_field("Password", _PASSWORD)
    code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


class ReauthPasskeyForm(forms.Form):
    password = password_field("Password", {**_PASSWORD, "id": "id_passkey_password"})
    credential = forms.CharField(max_length=MAX_RESPONSE_CHARS, widget=forms.HiddenInput)


class PasswordChangeForm(forms.Form):
    current_password = password_field("Current password", _PASSWORD)
    new_password = password_field("New password", _NEW_PASSWORD)


class EmailChangeForm(forms.Form):
    email = forms.EmailField(label="New e-mail address")


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="What the token is for, e.g. CRM sync.")
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=[(s.value, s.value) for s in Scope], widget=forms.CheckboxSelectMultiple
    )
    days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=365, initial=90)


class PasswordResetForm(forms.Form):
    new_password = password_field("New password", _NEW_PASSWORD)
    code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


class PasskeyAddForm(forms.Form):
    name = forms.CharField(
        label="Name for this passkey",
        max_length=60,
        help_text="Where the passkey lives, e.g. work laptop or security key.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    # Filled by passkeys.js with the browser's answer; without it there is no passkey to register.
    credential = forms.CharField(
        max_length=MAX_RESPONSE_CHARS,
        widget=forms.HiddenInput,
        error_messages={
            "required": "Your browser did not create a passkey. Use the button in a browser "
            "that supports passkeys, with JavaScript on."
        },
    )
