"""The intake Questionnaire's words: section titles and question texts, by linkId.

The embedded form shows the same words (it is drawn from the Questionnaire).
"""

SECTIONS = {
    "patient": "About you",
    "consent": "Consent",
    "pain": "Your back pain",
    "neuro": "Numbness and weakness",
    "function": "Daily life",
    "history": "Medical history",
    "running": "Your running",
    "self_report": "How your body feels",
}
QUESTIONS = {
    "patient.given_name": "Given name",
    "patient.family_name": "Family name",
    "patient.birth_date": "Date of birth",
    "patient.sex": "Sex",
    "patient.email": "Email",
    "patient.phone": "Phone",
    "patient.mrn": "Clinic patient number",
    "patient.identifiers": "The patient's identifiers in the clinic's record system",
    "patient.identifiers.system": "Identifier system (a URI)",
    "patient.identifiers.value": "Identifier value",
    "consent.data_processing": "I agree to my answers being processed to triage my back pain",
    "consent.contact_ok": "The clinic may contact me",
    "pain.side": "Where is the pain?",
    "pain.weeks_since_onset": "How many weeks ago did it start?",
    "pain.intensity_now": "How bad is the pain now (0 = none, 10 = worst)?",
    "pain.intensity_running": "How bad is the pain when you run (0-10)?",
    "pain.timing": "When does it hurt?",
    "pain.persistent_despite_rest": "Does the pain stay even when you rest?",
    "pain.worsening": "Is the pain getting worse?",
    "pain.radiates_to_leg": "Does the pain spread into your leg?",
    "pain.leg_pain_side": "Which leg does the pain go into?",
    "pain.night_pain": "Do you have pain at night that changing position does not ease?",
    "pain.morning_stiffness_minutes": "How many minutes is your back stiff in the morning (0 if not stiff)?",
    "pain.eases_with_exercise": "Does the pain ease when you exercise?",
    "pain.worse_bending_backwards": "Does arching your back (bending backwards) make the pain worse?",
    "pain.hurts_to_hop_or_bear_weight": (
        "Do you get pain in the groin, hip or buttock when you hop or stand on one leg?"
    ),
    "neuro.numbness_or_tingling": "Do you have numbness or tingling in your legs?",
    "neuro.numbness_side": "Which leg is numb or tingling?",
    "neuro.leg_weakness": "Does a leg feel weak?",
    "neuro.weakness_progressing": "Is the weakness getting worse?",
    "neuro.saddle_numbness": "Do you have numbness around your bottom or genitals (where you would sit on a saddle)?",
    "neuro.bladder_or_bowel_change": (
        "Any new difficulty passing urine, not feeling when you pass urine or wipe, "
        "or any new loss of bladder or bowel control?"
    ),
    "neuro.sexual_function_change": "Any new problems with sexual function?",
    "neuro.walking_difficulty": "Any new trouble walking: legs giving way, or feeling unsteady on your feet?",
    "function.daily_activity_difficulty": "Does the pain make daily activities difficult?",
    "history.previous_back_injury": "Have you injured your back before?",
    "history.previous_injury_notes": "Tell us about the earlier injury",
    "history.conditions": "Do you have any of these conditions?",
    "history.recent_trauma": "Have you had a fall, accident or blow recently?",
    "history.recent_trauma_kind": (
        "Was it minor (a stumble, a fall from standing) or significant (a fall from height, "
        "a road accident, a hard blow)?"
    ),
    "history.fever_or_unwell": "Do you have a fever or feel generally unwell?",
    "history.fever": "Do you have a temperature, chills or sweats?",
    "history.iv_drug_use": "Do you inject drugs?",
    "history.recent_infection_or_procedure": (
        "In the last 3 months, have you had a bacterial infection, a spinal injection or surgery?"
    ),
    "history.abdominal_pain_or_faintness": "Do you have tummy pain with the back pain, or do you feel faint?",
    "history.bone_stress_risk": "Do any of these apply to you?",
    "history.unexplained_weight_loss": "Have you lost weight without trying?",
    "history.long_term_steroids": "Do you take steroid tablets long-term?",
    "running.weekly_km": "Kilometres per week",
    "running.mileage_increase_pct": "How much has your weekly distance gone up recently (%)?",
    "running.surface": "Where do you mostly run?",
    "running.shoe_km": "Kilometres on your current shoes",
    "running.warm_up": "Do you warm up before running?",
    "running.stretching_per_week": "Stretching sessions per week",
    "running.strength_sessions_per_week": "Strength sessions per week",
    "running.lands_harder_on": "Do you land harder on one foot?",
    "running.known_leg_length_difference": "Have you been told one leg is longer?",
    "self_report.tight_hip_flexors": "Do your hip flexors feel tight?",
    "self_report.tight_hamstrings": "Do your hamstrings feel tight?",
    "self_report.weak_core": "Does your core feel weak?",
    "notes": "Anything else we should know?",
}
# Each answer option in words, by question (the Questionnaire's answerOption `display`).
OPTION_WORDS: dict[str, dict[str, str]] = {
    "patient.sex": {"female": "Female", "male": "Male", "other": "Other", "unknown": "Prefer not to say"},
    "pain.side": {"left": "Left side", "right": "Right side", "both": "Both sides", "central": "In the middle"},
    "pain.timing": {
        "during_run": "While running",
        "after_run": "After running",
        "at_rest": "At rest",
        "at_night": "At night",
        "morning_stiffness": "Stiff in the morning",
    },
    "pain.radiates_to_leg": {"none": "No", "above_knee": "Yes, above the knee", "below_knee": "Yes, below the knee"},
    "pain.leg_pain_side": {"left": "Left leg", "right": "Right leg", "both": "Both legs"},
    "neuro.numbness_side": {"left": "Left leg", "right": "Right leg", "both": "Both legs"},
    "history.conditions": {
        "osteoporosis": "Osteoporosis (thin bones)",
        "cancer_history": "Cancer, now or in the past",
        "inflammatory_arthritis": "Inflammatory arthritis (such as ankylosing spondylitis)",
        "diabetes": "Diabetes",
        "immunosuppression": "A weakened immune system (or medicines that weaken it)",
        "other": "Another long-term condition",
    },
    "history.recent_trauma_kind": {
        "minor": "Minor: a stumble or a fall from standing",
        "significant": "Significant: a fall from a height, a road accident or a hard blow",
    },
    "history.bone_stress_risk": {
        "missed_periods": "My periods have stopped or become irregular",
        "previous_stress_fracture": "I have had a stress fracture before",
        "restricted_eating": "I eat less than my training needs, or restrict what I eat",
    },
    "running.surface": {"road": "Road", "trail": "Trail", "track": "Track", "treadmill": "Treadmill", "mixed": "A mix"},
    "running.lands_harder_on": {"left": "Left foot", "right": "Right foot"},
}
