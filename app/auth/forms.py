from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, EmailField, HiddenField, PasswordField, SelectField, StringField, TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from app.auth.models import Role, TokenScope, TwoFactorPolicy
from app.auth.service import MIN_PASSWORD_LENGTH
from app.forms import choices, optional_id_choice

ROLE_CHOICES = choices((r.value, r.label) for r in (Role.RESPONDER, Role.VIEWER, Role.ADMIN))


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class PersonForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    phone = StringField("Mobile phone", validators=[Optional(), Length(max=32)],
                        description="International form, e.g. +15551230001. Used for SMS and voice pages.",
                        render_kw={"inputmode": "tel", "autocomplete": "tel"})
    time_zone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], default="UTC",
                            render_kw={"list": "time-zones"})
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.RESPONDER.value,
                       description="Admins configure; responders act on incidents; viewers read.")
    active = BooleanField("Active", default=True)


class NewPersonForm(PersonForm):
    password = PasswordField("Initial password", validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
                             description=f"At least {MIN_PASSWORD_LENGTH} characters. Leave empty to set it later.",
                             render_kw={"autocomplete": "new-password"})


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    phone = StringField("Mobile phone", validators=[Optional(), Length(max=32)],
                        description="International form, e.g. +15551230001.",
                        render_kw={"inputmode": "tel", "autocomplete": "tel"})
    time_zone = StringField("Time zone", validators=[DataRequired(), Length(max=64)],
                            render_kw={"list": "time-zones"})


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[Optional(), Length(max=200)],
                                     render_kw={"autocomplete": "current-password"})
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class AdminPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
                             render_kw={"autocomplete": "new-password"})


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=120)],
                       description="What will use it, e.g. 'deploy script'.")
    scope = SelectField("Scope", choices=choices([(TokenScope.WRITE.value, "Read and write (acts with your role)"),
                                                  (TokenScope.READ.value, "Read only")]),
                        default=TokenScope.WRITE.value)
    expires_on = DateField("Expires on", validators=[Optional()],
                           description="Optional. It works through the end of that day, in your time zone; "
                                       "leave empty for a token that works until revoked.")


class TeamForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class MemberForm(FlaskForm):
    user_id = SelectField("Person", coerce=int, validators=[DataRequired()])
    is_manager = BooleanField("Manager of this team")


class EmptyForm(FlaskForm):
    """A form with only its CSRF token, for buttons that post."""


class TwoFactorCodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=32)],
                       description="The 6 digits your authenticator app shows now, or one of your recovery codes.",
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True})


class TwoFactorOffForm(FlaskForm):
    password = PasswordField("Current password", validators=[Optional(), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField("Or a code", validators=[Optional(), Length(max=32)],
                       description="From your authenticator app, or a recovery code.",
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


class TwoFactorPolicyForm(FlaskForm):
    required = SelectField("Require two-factor sign-in for",
                           choices=choices((p.value, p.label) for p in TwoFactorPolicy),
                           description="People it covers who have no second factor set one up right after signing "
                                       "in, and reach nothing else until they have.")


class PasswordResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
                             description=f"At least {MIN_PASSWORD_LENGTH} characters.",
                             render_kw={"autocomplete": "new-password", "autofocus": True})
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class InviteForm(FlaskForm):
    emails = TextAreaField("Email addresses", validators=[DataRequired(), Length(max=20000)],
                           description="One or many: separate them by commas, spaces or new lines.")
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.RESPONDER.value,
                       description="Admins configure; responders act on incidents; viewers read.")
    team_id = SelectField("Team", coerce=optional_id_choice)


class AcceptInvitationForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)],
                       render_kw={"autocomplete": "name", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
                             description=f"At least {MIN_PASSWORD_LENGTH} characters.",
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})
    phone = StringField("Mobile phone", validators=[Optional(), Length(max=32)],
                        description="International form, e.g. +15551230001: pages reach you by SMS and voice once "
                                    "you enter the code sent to it.",
                        render_kw={"inputmode": "tel", "autocomplete": "tel"})
    time_zone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], default="UTC",
                            render_kw={"list": "time-zones"})


class JoinWithPasskeyForm(FlaskForm):
    """The accept page's other way: the account's fields come from its main form."""
    passkey_name = StringField("Name the passkey", validators=[DataRequired(), Length(max=64)],
                               description="Which device or key this is, e.g. “Work laptop” or “Phone”.")


class PasskeyNameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)],
                       description="Which device or key this is, e.g. “Work laptop” or “Blue security key”.")
