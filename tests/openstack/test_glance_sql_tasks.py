"""Glance's tasks and task_info statements (as glance-api 33 sends them during an image import, from the rig's
import_methods capture): a task id is never taken for an image id; the image a task works on is."""

from glancetrace.openstack.glance_sql import meaning_of

TASK = "6c222d9f-2dae-4d89-a934-8f6e3662cd90"
IMAGE = "9caf96f1-c4da-4bb4-b2b1-e9e8f27ac154"


def test_task_info_read_names_the_task_not_an_image():
    m = meaning_of("SELECT task_info.task_id AS task_info_task_id, task_info.input AS task_info_input, "
                   "task_info.result AS task_info_result, task_info.message AS task_info_message \n"
                   f"FROM task_info \nWHERE task_info.task_id = '{TASK}'")
    assert (m.kind, m.table, m.task_id, m.image_id) == ("glance", "task_info", TASK, None)


def test_task_read_with_its_info_names_the_task():
    m = meaning_of("SELECT tasks.id AS tasks_id, tasks.status AS tasks_status, task_info_1.task_id AS "
                   "task_info_1_task_id \nFROM tasks LEFT OUTER JOIN task_info AS task_info_1 ON tasks.id = "
                   f"task_info_1.task_id \nWHERE tasks.id = '{TASK}'")
    assert (m.table, m.task_id, m.image_id) == ("tasks", TASK, None)


def test_tasks_of_an_image_name_the_image():
    m = meaning_of(f"SELECT tasks.id AS tasks_id FROM tasks WHERE tasks.image_id = '{IMAGE}' AND tasks.deleted = 0")
    assert (m.task_id, m.image_id) == (None, IMAGE)


def test_task_insert_names_its_image_and_its_status():
    m = meaning_of("INSERT INTO tasks (id, type, status, owner, expires_at, image_id, request_id, user_id, "
                   "created_at, updated_at, deleted_at, deleted) VALUES "
                   f"('{TASK}', 'api_image_import', 'pending', '75be8a04546b4fa4beab056b097a30b4', NULL, '{IMAGE}', "
                   "'req-cdeb785f', '73850197a12a48b485eb21a736bee915', '2026-12-03 14:57:05', "
                   "'2026-12-03 14:57:05', NULL, 0)")
    assert (m.task_id, m.image_id) == (TASK, IMAGE)
    assert m.status_change.table == "tasks" and m.status_change.status == "pending"
    assert m.status_change.image_id is None  # a task's status is not the image's


def test_task_update_and_result():
    m = meaning_of(f"UPDATE tasks SET status='failure', updated_at='2026-12-03 14:57:20' WHERE tasks.id = '{TASK}'")
    assert (m.task_id, m.image_id, m.status_change.status) == (TASK, None, "failure")
    m = meaning_of(f"UPDATE task_info SET message='Task failed due to Internal Error' "
                   f"WHERE task_info.task_id = '{TASK}'")
    assert (m.task_id, m.image_id, m.values["message"]) == (TASK, None, "Task failed due to Internal Error")
