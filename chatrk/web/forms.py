"""Forms of the workspace pages that are not about accounts."""

from __future__ import annotations

from django import forms


class ChannelForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="How your team will know it, e.g. Support.")
    display_phone_number = forms.CharField(
        label="Phone number",
        max_length=32,
        help_text="The business number customers write to, e.g. +1 555 0100.",
    )
    phone_number_id = forms.RegexField(
        label="Phone number ID", regex=r"^\d{1,32}$", max_length=32,
        help_text="From Meta's app dashboard: WhatsApp → API Setup.",
        error_messages={"invalid": "The phone number ID is a number from Meta's app dashboard."},
    )  # fmt: skip
    waba_id = forms.RegexField(
        label="WhatsApp Business Account ID", regex=r"^\d{1,32}$", max_length=32,
        error_messages={"invalid": "The WhatsApp Business Account ID is a number from Meta."},
    )  # fmt: skip
    access_token = forms.CharField(
        label="Access token", max_length=1000, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="A permanent system-user token with whatsapp_business_messaging and management.",
    )  # fmt: skip
    app_secret = forms.CharField(
        label="App secret", max_length=200, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="App settings → Basic. Chatrk checks every webhook's signature with it.",
    )  # fmt: skip


class TokenReplaceForm(forms.Form):
    access_token = forms.CharField(
        label="New access token", max_length=1000, strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="From Meta's Business settings → System users; stored encrypted and never shown again.",
    )  # fmt: skip
