"""nbgrader configuration of peft-course (read by `nbgrader ...` run from the repository root and
by peft_course.grading (`python -m peft_course.grading`), which points CourseDirectory.root at
whichever course folder it grades).

    solutions/NN_topic/NN_topic.ipynb   instructor notebooks = nbgrader's source folder
    notebooks/NN_topic/NN_topic.ipynb   student notebooks = nbgrader's release folder (generated)
    _grading/                           git-ignored working folders and the gradebook database
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))
GRADING = "_grading"

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join(GRADING, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(GRADING, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(GRADING, "feedback")
c.CourseDirectory.solution_directory = os.path.join(GRADING, "released_solutions")
c.CourseDirectory.source_with_tests_directory = os.path.join(GRADING, "source_with_tests")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, GRADING, "gradebook.db")
os.makedirs(os.path.join(ROOT, GRADING), exist_ok=True)  # sqlite does not create the folder

# Execution during autograde. A cell that runs longer than the timeout is interrupted and scores 0
# (the rest of the notebook is still graded). The default leaves room for the CPU training cells
# (a whole notebook takes 2-3 minutes on a 2-core CPU; one cell rarely more than 2): override it
# with PEFT_COURSE_CELL_TIMEOUT (seconds), e.g. small in tests with deliberately endless loops.
c.Execute.timeout = int(os.environ.get("PEFT_COURSE_CELL_TIMEOUT", "900"))
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.Execute.kernel_name = "python3"  # the venv's ipykernel; the kernel imports peft_course from there

# Files in solutions/<a>/ that never ship to students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]
