"""HTML forms of the review pages (the API has its own serializers); they only parse, services decide."""

from django import forms

from reviews.models import Flag
from reviews.services import FLAG_NOTE_MAX, REPLY_MAX, REVIEW_MAX, TITLE_MAX

RATING_CHOICES = [(stars, f"{stars} star{'s' if stars > 1 else ''}") for stars in range(5, 0, -1)]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(choices=RATING_CHOICES, coerce=int, widget=forms.RadioSelect, label="Your rating")
    title = forms.CharField(max_length=TITLE_MAX, label="Title")
    review = forms.CharField(
        max_length=REVIEW_MAX, widget=forms.Textarea(attrs={"rows": 5}), label="Your review",
        help_text=f"Plain text, up to {REVIEW_MAX} characters.",
    )


class FlagForm(forms.Form):
    reason = forms.ChoiceField(choices=Flag.Reason.choices, label="Why should moderators look at this review?")
    note = forms.CharField(
        max_length=FLAG_NOTE_MAX, required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Details (optional)"
    )


class ReplyForm(forms.Form):
    body = forms.CharField(max_length=REPLY_MAX, widget=forms.Textarea(attrs={"rows": 4}), label="Your public reply")
