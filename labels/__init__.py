"""Labelling: schema, thread parser, labelled sets, corpus import."""
