"""A minimal Streamlit page for bench/browser_floor.py: `?k=bare|table|plotly|altair&n=N`.

Draws N copies of one element over the same 33 points (3 lines x 11 pruning fractions, the size
of a typical mbp curve chart), so the benchmark can separate what Streamlit itself costs in a
browser from what each chart library adds.
"""

import numpy as np
import pandas as pd
import streamlit as st

kind = st.query_params.get("k", "bare")
count = int(st.query_params.get("n", "1"))
st.title(f"floor: {kind} x {count}", anchor=False)
x = np.linspace(0.0, 1.0, 11)
frame = pd.DataFrame(
    {
        "fraction": np.tile(x, 3),
        "accuracy": np.random.default_rng(0).random(33),
        "order": np.repeat(["importance", "random", "reverse"], 11),
    }
)
for i in range(count):
    if kind == "plotly":
        import plotly.express as px

        fig = px.line(frame, x="fraction", y="accuracy", color="order", markers=True)
        st.plotly_chart(fig, key=f"plotly-{i}")
    elif kind == "altair":
        import altair as alt

        spec = alt.Chart(frame).mark_line(point=True)
        st.altair_chart(spec.encode(x="fraction", y="accuracy", color="order"), key=f"altair-{i}")
    elif kind == "table":
        st.dataframe(frame, key=f"table-{i}")
    else:
        st.write("A page with text only.")
