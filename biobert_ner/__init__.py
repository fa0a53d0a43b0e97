"""biobert_ner"""
