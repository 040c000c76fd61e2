from django import forms
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)


class RegisterForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    display_name = forms.CharField(label=_("Your name"), max_length=120, required=False)
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") != data.get("password1"):
            self.add_error("password2", _("The two passwords differ."))
        return data


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=80)
