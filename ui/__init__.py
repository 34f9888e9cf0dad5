"""Streamlit-side helpers shared by app.py and the pages (drawing only; no metric logic)."""
