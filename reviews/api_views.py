"""The reviews API: parse, call one service or selector, render."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from marketplace import api as marketplace_api
from reviews import selectors, services
from reviews.serializers import (
    DeveloperReplySerializer,
    FlagInSerializer,
    FlagOutSerializer,
    HelpfulOutSerializer,
    ReplyInSerializer,
    ReviewInSerializer,
    ReviewListQuerySerializer,
    ReviewSerializer,
)


class ReviewWriteThrottle(UserRateThrottle):
    """Writing, voting and flagging are cheap to script; a person does not need more than this."""

    scope = "review_write"
    rate = "120/hour"


class PluginReviewSubmitView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReviewWriteThrottle]

    @extend_schema(request=ReviewInSerializer, responses={200: ReviewSerializer, 201: ReviewSerializer})
    def post(self, request, plugin_id: str):
        # 404 for a missing plugin comes before the body's errors: there is nothing to review.
        marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)
        serializer = ReviewInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review, created = services.review_submit(
            plugin_id=plugin_id,
            user=request.user,
            rating=serializer.validated_data["rating"],
            title=serializer.validated_data["title"],
            body=serializer.validated_data["review"],
        )
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ReviewSerializer(review).data, status=answer)


class PluginReviewListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("sort", str, enum=list(selectors.SORTS)),
            OpenApiParameter("rating", int),
            OpenApiParameter("version", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: ReviewSerializer(many=True)},
    )
    def get(self, request, plugin_id: str):
        plugin = marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)
        query = ReviewListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        reviews = selectors.plugin_reviews_list(
            plugin_id=plugin.pk,
            sort=query.validated_data["sort"],
            rating=query.validated_data.get("rating"),
            version=query.validated_data.get("version") or None,
        )
        paginator = LimitOffsetPagination()
        paginator.max_limit = 100
        page = paginator.paginate_queryset(reviews, request, view=self)
        response = paginator.get_paginated_response(ReviewSerializer(page, many=True).data)
        response.data["ratings"] = plugin.ratings or selectors.plugin_ratings_compute(plugin_id=plugin.pk)["ratings"]
        return response


class ReviewHelpfulView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReviewWriteThrottle]

    @extend_schema(request=None, responses={200: HelpfulOutSerializer})
    def post(self, request, review_id):
        review = services.review_helpful_vote(review_id=review_id, user=request.user)
        return Response({"id": str(review.pk), "helpful_count": review.helpful_count, "voted": True})

    @extend_schema(request=None, responses={200: HelpfulOutSerializer})
    def delete(self, request, review_id):
        review = services.review_helpful_unvote(review_id=review_id, user=request.user)
        return Response({"id": str(review.pk), "helpful_count": review.helpful_count, "voted": False})


class ReviewFlagView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReviewWriteThrottle]

    @extend_schema(request=FlagInSerializer, responses={201: FlagOutSerializer})
    def post(self, request, review_id):
        serializer = FlagInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag = services.review_flag(review_id=review_id, user=request.user, **serializer.validated_data)
        return Response(
            {"review_id": str(flag.review_id), "reason": flag.reason, "status": flag.status},
            status=status.HTTP_201_CREATED,
        )


class ReviewReplyView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReviewWriteThrottle]

    @extend_schema(request=ReplyInSerializer, responses={200: DeveloperReplySerializer, 201: DeveloperReplySerializer})
    def put(self, request, review_id):
        serializer = ReplyInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reply, created = services.review_reply_set(
            review_id=review_id, user=request.user, body=serializer.validated_data["body"]
        )
        return Response(
            DeveloperReplySerializer(reply).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, review_id):
        services.review_reply_delete(review_id=review_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
