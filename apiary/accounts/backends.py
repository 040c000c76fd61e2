from django.contrib.auth.backends import ModelBackend

from apiary.accounts.models import User


class EmailBackend(ModelBackend):
    """Log in by e-mail, case-insensitively."""

    def authenticate(self, request, email=None, password=None, username=None, **kwargs):
        email = (email or username or "").strip()
        if not email or password is None:
            return None
        try:
            user = User.objects.get(email__iexact=email)
        except User.DoesNotExist:
            # Run the hasher anyway so response time does not reveal which e-mails exist.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
