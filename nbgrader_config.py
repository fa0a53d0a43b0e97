"""nbgrader's settings for this course, read by the nbgrader extensions when ``./course.sh`` starts JupyterLab.

The exercises follow nbgrader's cell conventions (solution and test cells, see ``biobert_ner/grading.py``);
students grade with ``biobert-ner grade exercises/<notebook>.ipynb``. This file names the course so that
nbgrader's extensions start without warnings; teachers who use nbgrader's own course folders extend it.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
c.CourseDirectory.course_id = "biobert-ner"
