"""A Google API discovery document for `commentanalyzer v1alpha1` whose root URL is this service.

Perspective's documented Python client is built from its discovery document
(`googleapiclient.discovery.build("commentanalyzer", "v1alpha1", discoveryServiceUrl=...)`). Served at the
path Google serves it at (`/$discovery/rest?version=v1alpha1`), it lets that client talk to threadguard with
nothing changed but the host. Only the two methods threadguard implements are described.
"""

from __future__ import annotations

from typing import Any

from serving.perspective import ATTRIBUTES

VERSION = "v1alpha1"


def _schemas() -> dict[str, Any]:
    text_entry = {"id": "TextEntry", "type": "object", "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": ["PLAIN_TEXT"]}}}
    score = {"id": "Score", "type": "object", "properties": {"value": {"type": "number", "format": "float"}, "type": {"type": "string"}}}
    span = {"id": "SpanScore", "type": "object",
            "properties": {"begin": {"type": "integer", "format": "int32"}, "end": {"type": "integer", "format": "int32"}, "score": {"$ref": "Score"}}}
    attribute_score = {"id": "AttributeScores", "type": "object",
                       "properties": {"summaryScore": {"$ref": "Score"}, "spanScores": {"type": "array", "items": {"$ref": "SpanScore"}}}}
    context = {"id": "Context", "type": "object", "properties": {
        "entries": {"type": "array", "items": {"$ref": "TextEntry"}, "description": "entries[0]: the article; entries[1]: the parent comment"},
        "articleAndParentComment": {"$ref": "ArticleAndParentComment"}}}
    article_and_parent = {"id": "ArticleAndParentComment", "type": "object",
                          "properties": {"article": {"$ref": "TextEntry"}, "parentComment": {"$ref": "TextEntry"}}}
    attribute_parameters = {"id": "AttributeParameters", "type": "object",
                            "properties": {"scoreType": {"type": "string"}, "scoreThreshold": {"type": "number", "format": "float"}}}
    analyze_request = {"id": "AnalyzeCommentRequest", "type": "object", "properties": {
        "comment": {"$ref": "TextEntry"}, "context": {"$ref": "Context"},
        "requestedAttributes": {"type": "object", "additionalProperties": {"$ref": "AttributeParameters"},
                                "description": f"attributes threadguard scores: {', '.join(ATTRIBUTES)}"},
        "languages": {"type": "array", "items": {"type": "string"}}, "doNotStore": {"type": "boolean"}, "clientToken": {"type": "string"},
        "sessionId": {"type": "string"}, "spanAnnotations": {"type": "boolean"}, "communityId": {"type": "string"}}}
    analyze_response = {"id": "AnalyzeCommentResponse", "type": "object", "properties": {
        "attributeScores": {"type": "object", "additionalProperties": {"$ref": "AttributeScores"}},
        "languages": {"type": "array", "items": {"type": "string"}}, "detectedLanguages": {"type": "array", "items": {"type": "string"}},
        "clientToken": {"type": "string"}}}
    suggest_request = {"id": "SuggestCommentScoreRequest", "type": "object", "properties": {
        "comment": {"$ref": "TextEntry"}, "context": {"$ref": "Context"},
        "attributeScores": {"type": "object", "additionalProperties": {"$ref": "AttributeScores"}},
        "languages": {"type": "array", "items": {"type": "string"}}, "communityId": {"type": "string"}, "clientToken": {"type": "string"},
        "sessionId": {"type": "string"}}}
    suggest_response = {"id": "SuggestCommentScoreResponse", "type": "object", "properties": {
        "detectedLanguages": {"type": "array", "items": {"type": "string"}}, "requestedLanguages": {"type": "array", "items": {"type": "string"}},
        "clientToken": {"type": "string"}}}
    return {s["id"]: s for s in (text_entry, score, span, attribute_score, context, article_and_parent, attribute_parameters,
                                 analyze_request, analyze_response, suggest_request, suggest_response)}


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    return {"id": f"commentanalyzer.comments.{name}", "path": f"{VERSION}/comments:{name}", "flatPath": f"{VERSION}/comments:{name}",
            "httpMethod": "POST", "parameters": {}, "parameterOrder": [], "request": {"$ref": request}, "response": {"$ref": response},
            "description": description}


def discovery_document(root_url: str) -> dict[str, Any]:
    """The REST description, pointing every method at `root_url` (this service, as the client reached it)."""
    root = root_url if root_url.endswith("/") else root_url + "/"
    query = {"type": "string", "location": "query"}
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"commentanalyzer:{VERSION}",
        "name": "commentanalyzer",
        "version": VERSION,
        "title": "threadguard (Perspective Comment Analyzer compatible)",
        "description": "Scores comments for TOXICITY, SEVERE_TOXICITY, INSULT, IDENTITY_ATTACK and OFF_TOPIC with threadguard's model.",
        "protocol": "rest",
        "rootUrl": root,
        "servicePath": "",
        "baseUrl": root,
        "batchPath": "batch",
        "parameters": {
            "key": {**query, "description": "API key (threadguard keys create)"},
            "alt": {**query, "default": "json", "enum": ["json"]},
            "fields": query, "prettyPrint": {"type": "boolean", "location": "query", "default": "true"},
            "quotaUser": query, "access_token": query, "upload_protocol": query, "uploadType": query, "callback": query, "$.xgafv": query,
        },
        "schemas": _schemas(),
        "resources": {"comments": {"methods": {
            "analyze": _method("analyze", "AnalyzeCommentRequest", "AnalyzeCommentResponse", "Analyzes the provided text and returns scores."),
            "suggestscore": _method("suggestscore", "SuggestCommentScoreRequest", "SuggestCommentScoreResponse",
                                    "Suggest scores for a comment: recorded as a label for threadguard's next training run."),
        }}},
    }
