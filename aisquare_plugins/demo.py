"""The demo marketplace: who and what `seed_demo` creates.

Plain data only; `seed_demo` turns it into rows. Each plugin gets a real, runnable package (plugin.json +
plugin.py), so a demo install goes through the real sandbox.
"""

DEMO_PASSWORD = "demo-pass-2026"

# (username, role, is_staff, first name)
USERS = [
    ("learner", "learner", False, "Lena"),
    ("teacher", "teacher", False, "Tomás"),
    ("orgadmin", "org_admin", False, "Olivia"),
    ("reviewer", "teacher", True, "Rui"),
    ("dev-labs", "teacher", False, "Ada"),
    ("dev-brightpath", "teacher", False, "Ben"),
    ("dev-polyglot", "teacher", False, "Pia"),
    ("dev-clearview", "teacher", False, "Cai"),
    ("dev-playful", "teacher", False, "Pat"),
] + [(f"student{i}", "learner", False, f"Student {i}") for i in range(1, 13)]

# username → (company, website, verified)
DEVELOPERS = {
    "dev-labs": ("AI Square Labs", "https://labs.aisquare.example", True),
    "dev-brightpath": ("BrightPath Learning", "https://brightpath.example", True),
    "dev-polyglot": ("Polyglot Tools", "https://polyglot.example", False),
    "dev-clearview": ("ClearView Analytics", "https://clearview.example", True),
    "dev-playful": ("Playful Minds", "https://playful.example", False),
}

ORGANIZATIONS = [
    ("Riverside High School", "riverside-high", {"orgadmin": "admin", "teacher": "teacher", "student1": "member",
                                                 "student2": "member", "student3": "member"}),
    ("Northwind Academy", "northwind-academy", {"teacher": "admin", "student4": "member", "student5": "member"}),
]

FREE = {"model": "free"}


def one_time(price, currency="USD"):
    return {"model": "one_time", "price": price, "currency": currency}


def monthly(price, currency="USD"):
    return {"model": "subscription", "price": price, "currency": currency, "interval": "month"}


def usage(unit_price, currency="USD"):
    return {"model": "usage_based", "currency": currency,
            "tiers": [{"up_to": 1000, "unit_price": unit_price}, {"up_to": None, "unit_price": "0.0050"}]}


# (id, name, category, developer, pricing, tags, scopes, description)
PLUGINS = [
    ("advanced-assessment-suite", "Advanced Assessment Suite", "assessment", "dev-labs", monthly("9.99"),
     ["assessment", "grading", "ai", "analytics"], ["assessments:create", "assessments:grade", "ai:use",
                                                     "analytics:read"],
     "Comprehensive assessment tools with AI-powered grading: auto-grades submissions, tracks results, and adds an "
     "analytics widget to your dashboard."),
    ("rubric-builder", "Rubric Builder", "assessment", "dev-brightpath", FREE, ["rubrics", "grading"],
     ["assessments:read", "assessments:create"], "Design reusable rubrics and attach them to any assessment."),
    ("quiz-randomizer", "Quiz Randomizer", "assessment", "dev-playful", one_time("4.99"), ["quiz", "exam"],
     ["assessments:create"], "Shuffle questions and answers per learner to keep quizzes fair."),
    ("peer-review-circles", "Peer Review Circles", "assessment", "dev-brightpath", monthly("5.00"),
     ["peer-review", "feedback"], ["assessments:read", "users:read", "users:message"],
     "Organize anonymous peer review rounds with guided feedback prompts."),
    ("plagiarism-lens", "Plagiarism Lens", "assessment", "dev-clearview", usage("0.0100"),
     ["integrity", "similarity"], ["assessments:read", "ai:use"],
     "Highlights passages that closely match other submissions, with explanations a teacher can check."),
    ("lesson-remixer", "Lesson Remixer", "content", "dev-labs", FREE, ["lessons", "authoring"],
     ["content:read", "content:create"], "Turn any lesson into a shorter recap, a worksheet or flashcards."),
    ("video-chapters", "Video Chapters", "content", "dev-brightpath", one_time("12.00"), ["video", "chapters"],
     ["content:read", "content:update"], "Adds chapter markers and a transcript outline to lesson videos."),
    ("glossary-builder", "Glossary Builder", "content", "dev-polyglot", FREE, ["glossary", "vocabulary"],
     ["content:read", "content:create"], "Collects key terms from your course into a linked glossary."),
    ("open-textbook-import", "Open Textbook Import", "content", "dev-labs", FREE, ["oer", "import"],
     ["content:create"], "Imports openly licensed textbook chapters as editable lessons."),
    ("math-notation-kit", "Math Notation Kit", "content", "dev-playful", one_time("3.00"), ["math", "latex"],
     ["content:read", "content:update"], "Write formulas with a friendly editor; renders accessible math."),
    ("progress-insights", "Progress Insights", "analytics", "dev-clearview", monthly("14.00"),
     ["progress", "dashboard"], ["analytics:read", "users:read"],
     "Shows which learners are falling behind and which topics need another pass."),
    ("engagement-heatmap", "Engagement Heatmap", "analytics", "dev-clearview", FREE, ["engagement", "charts"],
     ["analytics:read"], "A weekly heatmap of when your class studies."),
    ("cohort-compare", "Cohort Compare", "analytics", "dev-labs", usage("0.0200"), ["cohorts", "reports"],
     ["analytics:read", "analytics:export"], "Compare outcomes across classes and terms, export to CSV."),
    ("learning-time-tracker", "Learning Time Tracker", "analytics", "dev-brightpath", FREE, ["time", "habits"],
     ["analytics:write", "analytics:read"], "Tracks focused study time and celebrates streaks."),
    ("gradebook-sync", "Gradebook Sync", "integration", "dev-labs", monthly("19.00"), ["gradebook", "lms"],
     ["assessments:read", "system:webhooks"], "Keeps grades in step with your school's gradebook."),
    ("calendar-bridge", "Calendar Bridge", "integration", "dev-polyglot", FREE, ["calendar", "deadlines"],
     ["assessments:read", "system:notifications"], "Puts assessment deadlines on every learner's calendar."),
    ("slides-importer", "Slides Importer", "integration", "dev-brightpath", one_time("6.50"), ["slides", "import"],
     ["content:create"], "Imports slide decks as lessons with speaker notes."),
    ("sso-roster-sync", "Roster Sync", "integration", "dev-clearview", monthly("29.00"), ["roster", "sis"],
     ["users:read", "users:update"], "Synchronizes class rosters from your student information system."),
    ("midnight-theme", "Midnight Theme", "ui_theme", "dev-playful", FREE, ["dark", "theme"], [],
     "A calm dark theme that is easy on the eyes during evening study."),
    ("high-contrast-theme", "High Contrast Theme", "ui_theme", "dev-labs", FREE, ["contrast", "theme"], [],
     "A WCAG AAA high-contrast theme."),
    ("campus-colors", "Campus Colors", "ui_theme", "dev-brightpath", one_time("2.00"), ["branding", "theme"], [],
     "Brand the platform with your school's colours and logo."),
    ("pastel-focus", "Pastel Focus", "ui_theme", "dev-playful", FREE, ["pastel", "theme"], [],
     "Soft colours with reduced visual noise for focused reading."),
    ("live-translate", "Live Translate", "language", "dev-polyglot", usage("0.0050"), ["translation", "i18n"],
     ["content:read", "ai:use"], "Translates lessons and feedback into 40 languages on the fly."),
    ("pronunciation-coach", "Pronunciation Coach", "language", "dev-polyglot", monthly("7.00"),
     ["speaking", "pronunciation"], ["ai:use", "analytics:write"], "Practice speaking with instant feedback."),
    ("vocab-spaced-repetition", "Vocab Spaced Repetition", "language", "dev-playful", FREE, ["vocabulary", "srs"],
     ["content:read"], "Spaced-repetition decks generated from your course vocabulary."),
    ("grammar-helper", "Grammar Helper", "language", "dev-labs", one_time("5.00"), ["grammar", "writing"],
     ["ai:use"], "Explains grammar mistakes in plain words instead of just fixing them."),
    ("screen-reader-boost", "Screen Reader Boost", "accessibility", "dev-labs", FREE, ["screen-reader", "a11y"],
     ["content:read", "content:update"], "Adds missing alt text suggestions and landmark structure to lessons."),
    ("dyslexia-friendly-reader", "Dyslexia-Friendly Reader", "accessibility", "dev-brightpath", FREE,
     ["dyslexia", "reading"], [], "Reading mode with adjustable spacing and a dyslexia-friendly font."),
    ("captions-everywhere", "Captions Everywhere", "accessibility", "dev-polyglot", usage("0.0100"),
     ["captions", "video"], ["content:read", "content:update", "ai:use"], "Generates captions for every video."),
    ("text-to-speech", "Text to Speech", "accessibility", "dev-clearview", one_time("8.00"), ["audio", "reading"],
     ["content:read"], "Listen to any lesson with natural voices."),
    ("focus-timer", "Focus Timer", "productivity", "dev-playful", FREE, ["pomodoro", "focus"], [],
     "A Pomodoro timer with gentle break reminders."),
    ("assignment-planner", "Assignment Planner", "productivity", "dev-brightpath", monthly("3.00"),
     ["planning", "deadlines"], ["assessments:read"], "Breaks big assignments into daily steps."),
    ("teacher-inbox-zero", "Teacher Inbox Zero", "productivity", "dev-clearview", monthly("6.00"),
     ["inbox", "messages"], ["users:message", "system:notifications"], "Triage learner questions in one queue."),
    ("bulk-feedback", "Bulk Feedback", "productivity", "dev-labs", one_time("9.00"), ["feedback", "grading"],
     ["assessments:grade"], "Reusable feedback snippets for faster, kinder grading."),
    ("class-announcements", "Class Announcements", "communication", "dev-brightpath", FREE,
     ["announcements", "email"], ["system:notifications", "users:message"], "Announcements by e-mail and in-app."),
    ("parent-updates", "Parent Updates", "communication", "dev-clearview", monthly("4.00"), ["parents", "reports"],
     ["users:read", "analytics:read", "users:message"], "Weekly progress notes for parents and guardians."),
    ("discussion-threads", "Discussion Threads", "communication", "dev-polyglot", FREE, ["forum", "discussion"],
     ["content:create", "users:message"], "Threaded discussions attached to any lesson."),
    ("office-hours", "Office Hours", "communication", "dev-labs", one_time("7.50"), ["booking", "meetings"],
     ["system:notifications"], "Let learners book office-hour slots."),
    ("badge-forge", "Badge Forge", "gamification", "dev-playful", FREE, ["badges", "motivation"],
     ["analytics:read", "system:notifications"], "Design badges and award them automatically."),
    ("leaderboards", "Leaderboards", "gamification", "dev-playful", one_time("3.50"), ["leaderboard", "points"],
     ["analytics:read"], "Friendly class leaderboards with opt-in privacy."),
    ("quest-map", "Quest Map", "gamification", "dev-brightpath", monthly("5.50"), ["quests", "adventure"],
     ["content:read", "analytics:read"], "Turns a course into a map of quests and side quests."),
    ("streak-keeper", "Streak Keeper", "gamification", "dev-labs", FREE, ["streaks", "habits"],
     ["analytics:read", "system:notifications"], "Daily learning streaks with gentle nudges."),
    ("code-runner-lab", "Code Runner Lab", "assessment", "dev-clearview", monthly("12.00"), ["programming", "code"],
     ["assessments:create", "assessments:grade"], "Auto-graded programming exercises in a safe sandbox."),
    ("lesson-summaries", "Lesson Summaries", "content", "dev-labs", FREE, ["content", "summaries", "ai"],
     ["content:read", "content:update", "ai:use"], "Writes a short AI summary for every new lesson."),
    ("reading-level-check", "Reading Level Check", "content", "dev-polyglot", FREE, ["readability", "writing"],
     ["content:read"], "Estimates the reading level of lessons and suggests simpler wording."),
]

# Installed and activated for the demo login `learner` through the real sandbox.
LEARNER_PLUGINS = ["advanced-assessment-suite", "focus-timer", "midnight-theme", "lesson-summaries"]

# Plugins with a second, newer version (changelog) so update and roll back can be tried.
SECOND_VERSIONS = {
    "advanced-assessment-suite": ("1.1.0", "Faster grading; the analytics widget shows the last 30 days."),
    "lesson-remixer": ("1.2.0", "Flashcards can now be exported."),
    "focus-timer": ("2.0.0", "New break reminders and a compact mode."),
    "progress-insights": ("1.0.1", "Fixes a rounding error in completion rates."),
}

PLUGIN_SOURCE = '''"""{name}: demo plugin shipped with the AI Square Plugins demo marketplace."""

context = None


def init(ctx):
    """Runs once per worker before any hook or function: keep the context, register the UI."""
    global context
    context = ctx
    context.ui.addMenuItem({{"id": "{id}", "label": "{name}", "route": "/plugins/{id}/", "position": "main-menu"}})
    context.ui.addDashboardWidget({{"id": "{id}-widget", "title": "{name}", "function": "summary"}})


def on_install():
    context.storage.set("installed", True)


def summary(*args, **kwargs):
    return "<p>{name} is active.</p>"


def hello(name="world"):
    return {{"greeting": "Hello, " + str(name) + "!", "plugin": "{id}"}}
'''
