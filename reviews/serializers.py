"""Input and output shapes of the reviews API. Input serializers only type-check; services decide."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviews.models import DeveloperReply, Flag, Review
from reviews.selectors import SORT_ALIASES, SORTS
from reviews.services import FLAG_NOTE_MAX, REPLY_MAX, REVIEW_MAX, TITLE_MAX


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 5})
class StrictRatingField(serializers.Field):
    """A JSON whole number 1–5: "5", 4.5, 5.0, true and null are all refused (DRF's IntegerField takes "5")."""

    default_error_messages = {"invalid": "Rating must be a whole number from 1 to 5."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or not 1 <= data <= 5:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class StrictTextField(serializers.CharField):
    """Text only: a number or a list is an error, not something to stringify."""

    default_error_messages = {"not_text": "Must be text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class ReviewInSerializer(serializers.Serializer):
    """The spec's body. A client's `verified_purchase` is ignored: the server decides it."""

    rating = StrictRatingField()
    title = StrictTextField(max_length=TITLE_MAX)
    review = StrictTextField(max_length=REVIEW_MAX)


class ReviewListQuerySerializer(serializers.Serializer):
    sort = serializers.ChoiceField(choices=[*SORTS, *SORT_ALIASES], default="newest")
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    version = serializers.CharField(max_length=50, required=False, allow_blank=True)


class FlagInSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Flag.Reason.choices)
    note = StrictTextField(max_length=FLAG_NOTE_MAX, required=False, allow_blank=True, default="")


class HelpfulOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    helpful_count = serializers.IntegerField()
    voted = serializers.BooleanField()


class FlagOutSerializer(serializers.Serializer):
    review_id = serializers.UUIDField()
    reason = serializers.CharField()
    status = serializers.CharField()


class ReplyInSerializer(serializers.Serializer):
    body = StrictTextField(max_length=REPLY_MAX)


class DeveloperReplySerializer(serializers.ModelSerializer):
    developer = serializers.CharField(source="developer.company_name")
    edited = serializers.SerializerMethodField()

    class Meta:
        model = DeveloperReply
        fields = ["body", "developer", "edited", "edited_at", "created_at"]

    def get_edited(self, reply) -> bool:
        return reply.edited_at is not None


class ReviewSerializer(serializers.ModelSerializer):
    plugin_id = serializers.CharField()
    author = serializers.CharField(source="user.get_username")
    edited = serializers.BooleanField(source="is_edited")
    developer_reply = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "id",
            "plugin_id",
            "author",
            "rating",
            "title",
            "review",
            "version",
            "verified_purchase",
            "helpful_count",
            "edited",
            "edited_at",
            "is_hidden",
            "created_at",
            "developer_reply",
        ]

    def get_developer_reply(self, review) -> dict | None:
        try:
            reply = review.developer_reply
        except DeveloperReply.DoesNotExist:
            return None
        return DeveloperReplySerializer(reply).data
