"""Run under the real ``compreface-sdk`` (its own venv, ``urllib3<2``): the SDK's calls, in the
order a user makes them, with every answer printed as one JSON object for the test to check.

Usage: python compreface_sdk_drive.py URL PORT KEY IMAGES_DIR
"""

import json
import sys

from compreface import CompreFace  # type: ignore[import-not-found]

url, port, key, images = sys.argv[1:5]
options = {"det_prob_threshold": 0.8, "prediction_count": 2, "face_plugins": "landmarks"}
compre_face = CompreFace(url, port, options)
recognition = compre_face.init_face_recognition(key)
examples = recognition.get_face_collection()
subjects = recognition.get_subjects()
answers = {
    "add_subject": subjects.add("Joe Biden"),
    "add_obama": examples.add(f"{images}/fr_obama1.jpg", "Barack Obama"),
    "add_biden": examples.add(f"{images}/fr_biden1.jpg", "Joe Biden"),
    "add_no_face": examples.add(f"{images}/chelsea.jpg", "Chelsea"),
    "list": examples.list(),
    "subjects": subjects.list(),
    "recognize_obama": recognition.recognize(f"{images}/fr_obama2.jpg"),
    "recognize_biden": recognition.recognize(f"{images}/fr_biden2.jpg"),
    "detect": compre_face.init_face_detection(key).detect(f"{images}/fr_obama_and_biden.jpg"),
    "verify": compre_face.init_face_verification(key).verify(
        f"{images}/fr_obama1.jpg", f"{images}/fr_obama_and_biden.jpg"
    ),
}
answers["delete_obama"] = examples.delete(answers["add_obama"]["image_id"])
answers["delete_biden"] = examples.delete_all("Joe Biden")
answers["list_after"] = examples.list()
print(json.dumps(answers))
